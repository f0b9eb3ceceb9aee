"""sys.exit() while the file is imported."""
import sys

sys.exit(3)
