"""Licensed classifiers run by a third party, over HTTP: `Classifier` plug-ins (registered
under ``vangnet.classifiers`` like the bundled ones) that send each picture to a remote
service and read its answer back as a `Score`.

- `service`: what every adapter shares: the key, the egress-checked HTTP client, a token
  bucket per adapter and process, retries (Retry-After, backoff), the errors.
- `safer`: Thorn Safer Predict (``safer_predict``, measures ``abuse_material``).
- `google`: Google's Content Safety API (``google_content_safety``, its review priorities
  mapped to 0-1, measures ``abuse_material``).

Sending suspect media to a third party is a choice of the deployment: no adapter is in the
default set, and one enabled without its endpoint or key is a settings error.
"""
