"""The seed's trades report: `python scripts/fetch_trades.py --base-url URL --account N --market-id M
--limit 200 --mark-mid MID [--token BEARER]`. The logic is adapters/lighter/fetch_trades.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from adapters.lighter.fetch_trades import main  # noqa: E402

raise SystemExit(main())
