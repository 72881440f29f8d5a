/* cartcast-orders coins add VIEWER N | coins get VIEWER: the command-line way to
 * credit a viewer's gift coins (docs/gifts-and-shop.md).  Runs the same script
 * as the overlay's admin POST /v1/viewers/VIEWER/coins (commerce-overlay/lua/coins.lua). */
#ifndef CARTCAST_ORDERS_COINS_H
#define CARTCAST_ORDERS_COINS_H

/* argv[1] is "coins".  Returns the process exit code: 0, 1 (Redis), 2 (usage). */
int cc_orders_coins_main(int argc, char **argv);

#endif
