"""The seed's profile merge: `python scripts/apply_profile.py --profile profiles/market_<id>.yaml --config
config.yaml --metadata-out data/instruments/market_<id>.json`. The logic is runtime/service/apply_profile.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing

from lighter_bot import BotConfig  # noqa: E402
from runtime.service.apply_profile import main  # noqa: E402

raise SystemExit(main(BotConfig))
