/* Lots and freeze slicing (design §1 step 5, refined by the instrument):
 * each planned leg is rounded to whole lots of its instrument, and a leg
 * above the freeze quantity becomes child orders that each fit. Facts come
 * from the instrument cache (instruments.h); without get_instrument nothing
 * changes. */
#ifndef PTEXEC_LOTS_H
#define PTEXEC_LOTS_H

#include "instruments.h"
#include "plan.h"
#include "session.h"

/* More children than this for one leg are not placed: the rest of the leg is
 * rounded off with the reason (a request for 10^9 of a future would
 * otherwise become 10^6 orders). */
#define LOTS_CHILDREN_MAX 1000

/* Rounds every leg of `p` (planned for `request`) towards zero to whole lots (plan_leg.rounded,
 * lot_size) and splits it into children of at most the freeze quantity
 * (child_quantity, children; 0 children when nothing is left). Legs whose
 * facts cannot be read are left whole. Execution's thread. */
void lots_apply(session *s, instruments *cache, const exec_request *request, plan *p);

/* Quantity of child `index` (0-based) of `leg`. */
int64_t lots_child_quantity(const plan_leg *leg, size_t index);

#endif
