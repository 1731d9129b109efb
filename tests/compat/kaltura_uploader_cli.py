"""Runs the `kaltura_uploader` command line (PyPI kaltura-uploader, its `cli.main()` unmodified)
against vidmock.

The package has no option for the server: it calls `https://www.kaltura.com/` through two
module constants. This launcher points those two at VIDMOCK_URL, keeping their shape (the
service URL ends with `/`, so the Python client it drives sends `//api_v3/...`, as it does
against Kaltura), then hands the command line to `main()`:

    VIDMOCK_URL=http://127.0.0.1:8484 KALTURA_PARTNER_ID=101 KALTURA_ADMIN_SECRET=... \\
      python kaltura_uploader_cli.py FILE --chunk_size 2048
"""

import os
import sys

import kaltura_uploader.uploader as uploader
from kaltura_uploader.cli import main

BASE_URL = os.environ["VIDMOCK_URL"].rstrip("/")
uploader.KALTURA_SERVICE_URL = BASE_URL + "/"
uploader.KALTURA_API_URL = BASE_URL + "/api_v3/"

if __name__ == "__main__":
    sys.exit(main())
