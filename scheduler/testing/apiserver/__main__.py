"""Run the stand-in kube-apiserver: ``python -m scheduler.testing.apiserver --help``."""
import sys

from scheduler.testing.apiserver.cli import main

sys.exit(main())
