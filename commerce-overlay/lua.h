/* The overlay's Redis scripts (commerce-overlay/lua/NAME.lua, embedded at build time). */
#ifndef CARTCAST_OVERLAY_LUA_H
#define CARTCAST_OVERLAY_LUA_H
extern const char ov_lua_state[], ov_lua_create[], ov_lua_end[], ov_lua_poll[], ov_lua_vote[], ov_lua_buy[],
    ov_lua_stock_set[]; /* commerce-overlay/orders/lua/stock_set.lua */
/* chat and moderation (chat.c, docs/chat.md) */
extern const char ov_lua_chat_state[], ov_lua_chat_send[], ov_lua_chat_mod[];
/* gifts, coins and catalogs (docs/gifts-and-shop.md) */
extern const char ov_lua_gift[], ov_lua_coins[], ov_lua_catalog[];
#endif
