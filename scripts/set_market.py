"""The seed's market profile: `python scripts/set_market.py --symbol SYMBOL --balance-usd 30
--sizing-multiplier 1.1 --profile-out profiles/market_<id>.yaml --activate`. The logic is adapters/lighter/set_market.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from adapters.lighter.set_market import main  # noqa: E402

raise SystemExit(main())
