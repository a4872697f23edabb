"""``python -m keras_viz``: the ``keras-viz`` command line."""
from keras_viz.cli import main

raise SystemExit(main())
