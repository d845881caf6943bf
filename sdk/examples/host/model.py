"""A toy portfolio model that trades through ptexec in-process.

    python3 model.py CONFIG [BROKER]

The model holds a fixed amount of capital in a few symbols with target
weights; it reads the account's holdings, turns the weights into target
quantities at reference prices, looks at the plan (a dry run), then executes
it and prints what happened. No server, no HTTP: ptexec runs inside this
process through ptexec.py (ctypes over libptexec.so.1).
"""

import sys

from ptexec import Host, PtexecError

CAPITAL = 200_000.0
WEIGHTS = {"RELIANCE": 0.6, "TCS": 0.35, "INFY": 0.05}
PRICES = {"RELIANCE": 2950.0, "TCS": 3900.0, "INFY": 1500.0}  # reference prices
CREDENTIALS = {"api_key": "model", "access_token": "demo"}


def targets():
    """Whole shares of each symbol worth its weight of the capital."""
    return [{"symbol": s, "target_quantity": int(CAPITAL * w // PRICES[s])}
            for s, w in WEIGHTS.items()]


def main(config, broker="zerodha"):
    request = {"broker": broker, "credentials": CREDENTIALS, "target_portfolio": targets()}
    with Host(config) as host:
        print("holdings before:", host.holdings(broker, CREDENTIALS))
        plan = host.plan(request)
        for leg in sorted(plan["results"], key=lambda r: r["sequence"]):
            print("plan: %(side)s %(quantity)d %(symbol)s" % leg)
        try:
            result = host.execute(request)
        except PtexecError as e:
            print("refused:", e.code, e.message)
            return 1
        print("execution", result["execution_id"], result["status"], result["summary"])
        print("holdings after:", host.holdings(broker, CREDENTIALS))
        return 0 if result["status"] in ("COMPLETED", "NOOP") else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
