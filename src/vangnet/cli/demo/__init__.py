"""`vangnet demo`: the demo bank, key and accounts (`prepare`: pictures drawn here, no data
files needed) and the live part (`live`: a generated stream, a webhook receiver, an alert
printer). The command itself is `vangnet.cli.serve_cmd.demo_command`; it imports these
modules inside the command, so `vangnet --help` does not load them."""
