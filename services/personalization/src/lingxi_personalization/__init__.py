"""The personalisation service: consented purchases in, profiles and recommendations out.

Its domain modules run compiled when ``make install`` built them for these sources (``lingxi.native``).
"""

from lingxi.native import use_compiled

use_compiled(__name__, __path__)
