"""Classical codecs over the same link as a GO message: JPEG, JPEG with restart markers and JPEG
2000, each encoded at its best for a byte budget, with the header a link must protect, and a
receiver that makes the best of a file with lost bytes and never raises."""

from lamigo.classical.baselines import BASELINES, Baseline, Encoded, encode_at_budget, get_baseline
from lamigo.classical.received import MID_GREY, Received
from lamigo.classical.search import highest_fitting

__all__ = ["BASELINES", "MID_GREY", "Baseline", "Encoded", "Received", "encode_at_budget", "get_baseline",
           "highest_fitting"]
