/* The command-line front-end of design §2.4. */
#ifndef PTEXEC_CLI_H
#define PTEXEC_CLI_H

/* Exit codes of design §2.4. */
enum {
    CLI_EXIT_OK = 0,         /* every leg FILLED, or nothing to do */
    CLI_EXIT_NOT_FILLED = 1, /* finished with some legs not filled */
    CLI_EXIT_USAGE = 2,      /* bad usage, configuration or request */
    CLI_EXIT_BROKER = 3      /* broker authentication or availability failure */
};

/*
 * Runs `ptexec` with the given arguments and returns the process exit code.
 * Results go to stdout (JSON, or a table with --format text), diagnostics and
 * progress to stderr. Main thread.
 */
int cli_main(int argc, char **argv);

#endif
