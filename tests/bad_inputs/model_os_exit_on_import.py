"""os._exit(0) while the file is imported: the process ends without unwinding."""
import os

os._exit(0)
