#!/usr/bin/env python3
"""The creator's shop page and the viewer page's gifts in Chromium, with real video
(docs/gifts-and-shop.md):

ffmpeg --RTMP--> cartcast-origin --redis   (the live edge the shop's badge reads)
                 cartcast-overlay --gifts   (catalog REST, shop page, gifts)
                 cartcast-orders            (decides the shop page's buy)
                 Chromium (playwright-core) (shop page: products, live badge, buy;
                                             viewer page: a gift and its animation)

Screenshots go to the test's temp dir; CC_SHOP_SCREENSHOT=docs/shop-screenshot.png and
CC_GIFT_SCREENSHOT=docs/gift-screenshot.png keep them."""
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cc  # noqa: E402

KEY = "shop-browser-key-0001"
TOKEN = "shop-operator-token"
ADMIN = "shop-admin-token-01"
C = "anna"


class ShopBrowserTest(cc.RedisTestCase):
    def test_shop_page_and_gifts(self):
        chromium = os.environ.get("CC_CHROMIUM", "/usr/bin/chromium")
        if not os.path.exists(chromium) or not os.path.exists(os.path.join(cc.ROOT, "node_modules", "playwright-core")):
            self.fail("Chromium or node_modules missing: run scripts/deps.sh")
        redis = self.redis_server()
        origin = self.origin({C: KEY}, extra=["--redis", redis.url, "--grace-ms", "1500"])
        ov = cc.Overlay(self.workdir, redis.url, {TOKEN: C, ADMIN: "*"}, origin_url=origin.url(""),
                        extra=["--gifts", os.path.join(cc.ROOT, "commerce-overlay", "gifts.example.json")])
        self.daemons.append(ov)
        self.orders(redis)

        products = [
            {"sku": "TEE-BLK", "title": "Black tee <b>bold?</b>", "description": "Organic cotton\nUnisex",
             "price": 2500, "currency": "EUR", "image_url": ov.url("/static/mug.svg"), "stock": 12},
            {"sku": "MUG-RED", "title": "Red mug", "price": 1299, "currency": "EUR",
             "image_url": ov.url("/static/mug.svg"), "stock": 3},
            {"sku": "CAP-1", "title": "Cap (on the brand's site)", "price": 1800, "currency": "EUR",
             "checkout_url": "https://shop.example.com/cap-1", "stock": 8},
            {"sku": "SOCKS", "title": "Socks", "price": 900, "currency": "EUR", "stock": 40},
            {"sku": "TOTE", "title": "Tote bag", "price": 1500, "currency": "EUR", "stock": 0},
            {"sku": "ZZ-6TH", "title": "A sixth featured one", "price": 100, "currency": "EUR"},
            {"sku": "AA-HIDDEN", "title": "Not featured", "price": 100, "currency": "EUR", "featured": False},
        ]
        for p in products:
            p.setdefault("featured", True)
            st, body, _ = ov.rest("POST", "/v1/creators/%s/products" % C, TOKEN, p)
            self.assertEqual(st, 201, body)

        live_file = os.path.join(self.workdir, "publisher-started")
        ready_file = os.path.join(self.workdir, "shop-seen-offline")
        shop_shot = os.environ.get("CC_SHOP_SCREENSHOT") or os.path.join(self.workdir, "shop.png")
        gift_shot = os.environ.get("CC_GIFT_SCREENSHOT") or os.path.join(self.workdir, "gift.png")
        args = ["node", os.path.join(cc.ROOT, "tests", "integration", "shop_browser.mjs"), "--overlay", ov.url(""),
                "--origin", origin.url(""), "--creator", C, "--admin", ADMIN, "--shop-shot", shop_shot,
                "--gift-shot", gift_shot, "--live-file", live_file, "--ready-file", ready_file, "--token", TOKEN, "--pin-sku", "TEE-BLK"]
        browser = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cc.ROOT)
        result = {}

        def communicate():
            result["out"], result["err"] = browser.communicate(timeout=170)
        t = threading.Thread(target=communicate)
        t.start()
        # the page first sees the shop while nothing is live, then the test starts the publisher
        deadline = time.time() + 90
        while not os.path.exists(ready_file) and browser.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        self.spawn(cc.ffmpeg_publish(origin.rtmp_url(KEY), seconds=90))
        with open(live_file, "w") as f:
            f.write("1")
        t.join(180)
        sys.stderr.write(result.get("err", ""))
        self.assertEqual(browser.returncode, 0, result.get("err", "") + result.get("out", ""))
        res = json.loads(result["out"])

        # -- the shop page: five featured products (by SKU), live stock, text never markup
        self.assertEqual([p["sku"] for p in res["products"]], ["CAP-1", "MUG-RED", "SOCKS", "TEE-BLK", "TOTE"])
        by = {p["sku"]: p for p in res["products"]}
        self.assertEqual(by["TEE-BLK"]["title"], "Black tee <b>bold?</b>")
        self.assertEqual(by["MUG-RED"]["stock"], "Only 3 left")
        self.assertEqual(by["TOTE"]["stock"], "Sold out")
        self.assertEqual(by["CAP-1"]["checkout"], "https://shop.example.com/cap-1")
        self.assertIn("25", by["TEE-BLK"]["price"])
        # the live badge: absent before the publisher, then links to the creator's stream
        self.assertFalse(res["badgeBeforeLive"])
        self.assertEqual(res["badgeHref"], "/watch/%s" % C)
        print("# live badge shown %d ms after the publisher started" % res["badgeAfterMs"])

        # -- the buy: confirmed on the page by cartcast-orders, attributed to the shop
        self.assertRegex(res["buyResult"], r"^Confirmed · order ord_")
        sku = res["boughtSku"]
        events = [cc.resp_hash(e[1]) for e in redis.call("XRANGE", "cc:{orders}:events", "-", "+")]
        mine = [e for e in events if e.get("viewer") == res["shopViewer"] and e.get("sku") == sku]
        self.assertEqual(len(mine), 1, events)
        self.assertEqual(mine[0]["status"], "confirmed")
        self.assertEqual(mine[0]["stream"], "_shop")
        self.assertEqual(mine[0]["cue"], "shop:%s" % C)
        self.assertEqual(mine[0]["creator"], C)
        self.assertEqual(res["shopEvent"]["order"], mine[0]["order"])
        sales = cc.resp_hash(redis.call("HGETALL", "cc:{orders}:sales:stream:_shop"))
        self.assertEqual(sales["orders"], "1")
        print("# shop buy: %s (stream _shop, cue shop:%s)" % (res["buyResult"], C))

        # -- the gift: debited, broadcast back to the page (animation), on the leaderboard
        self.assertEqual([g["gift"] for g in res["giftsShown"]][:2], ["rose", "rocket"])
        self.assertEqual(res["balance"], 120 - 5 - 99)
        self.assertEqual(int(redis.call("HGET", "cc:{orders}:coins", res["viewer"])), 16)
        self.assertEqual(float(redis.call("ZSCORE", "cc:{orders}:gifts:top:%s" % C, res["viewer"])), 104)
        self.assertIn("104", res["board"][0])
        st, rep, _ = ov.rest("GET", "/v1/creators/%s/earnings" % C, TOKEN)
        self.assertEqual(st, 200, rep)
        self.assertEqual(rep["gifts"]["coins"], 104)
        self.assertEqual(rep["gifts"]["creator_coins"], 5 * 70 // 100 + 99 * 70 // 100)  # rounded down per gift: 3 + 69
        self.assertEqual(rep["sales"]["orders"], 1)
        # -- the operator page: the whole catalog listed, one click pinned TEE-BLK as a product card
        self.assertEqual(res["catalogListed"], ["AA-HIDDEN", "CAP-1", "MUG-RED", "SOCKS", "TEE-BLK", "TOTE", "ZZ-6TH"])
        st, cues, _ = ov.rest("GET", "/v1/streams/%s/cues" % C, TOKEN)
        self.assertEqual(st, 200, cues)
        pinned = [c for c in cues["cues"] if c["id"] == res["pinned"]["id"]]
        self.assertEqual(len(pinned), 1, cues)
        self.assertEqual(pinned[0]["kind"], "product")
        self.assertEqual(pinned[0]["product"]["sku"], "TEE-BLK")
        self.assertEqual(pinned[0]["product"]["title"], "Black tee <b>bold?</b>")
        self.assertEqual(pinned[0]["product"]["price"], 2500)
        self.assertEqual(pinned[0]["product"]["currency"], "EUR")
        self.assertIn("gifts: 2 (104 coins, creator 72)", res["earningsText"])
        self.assertEqual(res["console"], [])
        for shot in (shop_shot, gift_shot):
            self.assertGreater(os.path.getsize(shot), 10000)


if __name__ == "__main__":
    cc.main()
