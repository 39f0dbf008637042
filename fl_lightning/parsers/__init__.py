"""The parsers of the steps' options: where YAML text and command-line strings become values.

jsonargparse builds each parser (`federate_parser.build_parser`, compare's and LightningCLI's
own); the commands (`fl_lightning.commands`) parse argv with them, and the Python API's config
builders (`fl.federate_config`) read a YAML file through the same parser, so a config built in
Python is typed and checked exactly as the command line's. This layer sits below `app`: an
`app` module gets a plain tree of values (`federate_parser.parse_federate`) and builds its
typed config from it; no `app` module holds a parser's Namespace
(tests/test_layers_no_namespace.py).
"""
