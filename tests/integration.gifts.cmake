# Gifts, catalogs and the shop page (docs/gifts-and-shop.md):
#  gifts       Node `ws` viewers on two real overlays + real redis-server: catalog, coins,
#              1,000 concurrent gifts with an exact ledger, leaderboard, earnings report
add_test(NAME gifts COMMAND node ${CMAKE_SOURCE_DIR}/tests/integration/test_gifts.mjs)
set_tests_properties(gifts PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
#  catalog     catalog REST (field-level 400s, CRUD, global SKUs), the shop API (featured
#              products, live stock, live badge) and shop buys decided by a real cartcast-orders
add_test(NAME catalog COMMAND node ${CMAKE_SOURCE_DIR}/tests/integration/test_catalog.mjs)
set_tests_properties(catalog PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
#  shop_browser  Chromium: the shop page (featured products, live badge from a real origin
#              --redis with ffmpeg publishing, a buy confirmed by cartcast-orders and
#              attributed to the shop) and a gift with its animation on the viewer page
add_test(NAME shop_browser COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/integration/test_shop_browser.py)
set_tests_properties(shop_browser PROPERTIES LABELS integration TIMEOUT 300
                     ENVIRONMENT "CC_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHONDONTWRITEBYTECODE=1")
