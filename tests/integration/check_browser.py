#!/usr/bin/env python3
"""Opens pages in headless Chromium through chromedriver (the W3C WebDriver
protocol, spoken with the standard library) and checks what a person would
see:

    check_browser.py --screenshot OUT.png PAGE_URL [IMAGE_URL ...]

- PAGE_URL (file://) loads: readyState "complete", a title;
- every <img> on it decodes: its lazy loading is turned off (as scrolling
  would), then each must be complete with naturalWidth > 0;
- the browser's console has no errors or warnings for the page;
- a screenshot of the page goes to OUT.png;
- each IMAGE_URL, opened on its own (Chromium shows an image document),
  decodes with naturalWidth > 0.

Prints one line per check; exits 1 on the first failure. Every wait has a
deadline, and Chromium and chromedriver are stopped in every case.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def fail(msg):
    print("FAIL check_browser: " + msg, file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def devtools_port(browser, user_data_dir, deadline_s=30):
    """The port Chromium's DevTools listen on (--remote-debugging-port=0
    lets it choose; it writes the choice to DevToolsActivePort)."""
    path = os.path.join(user_data_dir, "DevToolsActivePort")
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if browser.poll() is not None:
            with open(os.path.join(os.path.dirname(user_data_dir),
                                   "chromium.log")) as f:
                said = f.read()[-800:]
            fail("chromium exited with status %d before its DevTools "
                 "listened; it said: %s" % (browser.returncode, said))
        try:
            with open(path) as f:
                first = f.readline().strip()
            if first:
                return int(first)
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    fail("chromium wrote no DevToolsActivePort within %d s" % deadline_s)


class Driver:
    def __init__(self, port, timeout):
        self.base = "http://127.0.0.1:%d" % port
        self.timeout = timeout
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method,
                                     headers={"Content-Type":
                                              "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.load(r).get("value")
        except urllib.error.HTTPError as e:
            fail("%s %s: %s" % (method, path, e.read()[:500]))

    def s(self, method, path, body=None):
        return self.call(method, "/session/%s%s" % (self.session, path),
                         body)

    def script(self, js, *args):
        return self.s("POST", "/execute/sync", {"script": js,
                                                "args": list(args)})

    def wait_for(self, js, what, deadline_s):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if self.script(js):
                return
            time.sleep(0.2)
        fail("timed out waiting for " + what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("page")
    ap.add_argument("images", nargs="*")
    a = ap.parse_args()
    for prog in (CHROMIUM, DRIVER):
        if not os.access(prog, os.X_OK):
            fail("no %s (packages chromium, chromium-driver, which "
                 "scripts/deps test installs)" % prog)
    # Chromium is started here, not by chromedriver: chromedriver would
    # reach the DevTools of a browser it starts as "localhost", a name a
    # bare root (no /etc/hosts) cannot resolve; attached to a running
    # browser it uses the address it is given
    profile = tempfile.mkdtemp(prefix="satfs-chromium.")
    browser_log = open(os.path.join(profile, "chromium.log"), "w")
    browser = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0",
         "--user-data-dir=" + profile + "/profile",
         "--window-size=1280,1600", "about:blank"],
        stdout=browser_log, stderr=subprocess.STDOUT)
    port = free_port()
    log = open(os.path.join(profile, "chromedriver.log"), "w")
    proc = subprocess.Popen([DRIVER, "--port=%d" % port], stdout=log,
                            stderr=subprocess.STDOUT)
    d = Driver(port, a.timeout)
    try:
        devtools = devtools_port(browser, profile + "/profile")
        end = time.monotonic() + 20
        while True:
            try:
                if d.call("GET", "/status").get("ready"):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > end or proc.poll() is not None:
                fail("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "debuggerAddress": "127.0.0.1:%d" % devtools,
            }}}}
        d.session = d.call("POST", "/session", caps)["sessionId"]
        d.s("POST", "/timeouts", {"pageLoad": int(a.timeout * 1000),
                                  "script": int(a.timeout * 1000)})

        d.s("POST", "/url", {"url": a.page})
        d.wait_for("return document.readyState === 'complete'",
                   "the page to load", a.timeout)
        title = d.script("return document.title")
        if not title:
            fail("the page has no title")
        print("page loaded: %r" % title)
        # as scrolling would: every image now
        n = d.script("const v = document.images;"
                     "for (const i of v) i.loading = 'eager';"
                     "return v.length;")
        if not n:
            fail("the page has no images")
        d.wait_for("return Array.from(document.images)"
                   ".every(i => i.complete)", "%d images" % n, a.timeout)
        imgs = d.script("return Array.from(document.images).map(i => "
                        "[i.currentSrc, i.naturalWidth, i.naturalHeight])")
        bad = [i for i in imgs if not i[1] or not i[2]]
        if bad:
            fail("%d of %d images do not decode, e.g. %s" %
                 (len(bad), len(imgs), bad[0][0]))
        print("%d images decode (naturalWidth > 0)" % len(imgs))
        d.script("window.scrollTo(0, 0)")
        png = base64.b64decode(d.s("GET", "/screenshot"))
        with open(a.screenshot, "wb") as f:
            f.write(png)
        print("screenshot: %s (%d bytes)" % (a.screenshot, len(png)))
        logs = d.s("POST", "/se/log", {"type": "browser"}) or []
        noisy = [e for e in logs if e.get("level") in ("SEVERE", "WARNING")]
        if noisy:
            fail("the console says: %s" % noisy[0].get("message"))
        print("console: no errors or warnings")

        for url in a.images:
            d.s("POST", "/url", {"url": url})
            d.wait_for("return document.readyState === 'complete' && "
                       "document.images.length === 1 && "
                       "document.images[0].complete",
                       url, a.timeout)
            w = d.script("return document.images[0].naturalWidth")
            if not w:
                fail("%s does not decode" % url)
            print("%s decodes: %d px wide" % (url, w))
        d.s("DELETE", "")
        d.session = None
    finally:
        if d.session:
            try:
                d.s("DELETE", "")
            except Exception:  # already failing: stop the driver anyway
                pass
        for p in (proc, browser):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        log.close()
        browser_log.close()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
