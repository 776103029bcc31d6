"""A real browser for page tests: Debian's headless Chromium driven by selenium (no browser download)."""

from __future__ import annotations


def chrome(tmp) -> object:  # type: ignore[no-untyped-def]
    """Debian's headless Chromium through Selenium; nothing leaves the machine."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--no-proxy-server", "--window-size=1360,900", "--lang=zh-CN",
                f"--user-data-dir={tmp}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    return driver
