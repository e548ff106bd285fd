"""The maintenance service: device telemetry in, health and alerts out.

Its domain modules run compiled when ``make install`` built them for these sources (``lingxi.native``).
"""

from lingxi.native import use_compiled

use_compiled(__name__, __path__)
