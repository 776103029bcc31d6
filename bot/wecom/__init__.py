"""The WeCom adapter: the only package that imports wechatpy.

- `crypto`: callback signature check, decrypt, encrypt (WXBizMsgCrypt).
- `parser`: decrypted callback XML -> CallbackEvent.
- `textsplit`: fitting text into WeCom's UTF-8 byte limits.
- `client`: the WeComClient protocol and the wechatpy-backed adapter (token sharing, retries, error mapping).
- `simulator`: a loopback WeCom (API + callbacks + chat page) for `scrm demo` and the tests.
"""
