"""Regions of a picture, found from its pixels alone (arrays in, rectangles out).

- `vangnet.media.regions.edges`: straight edges and natural-ness (the cues), `Box`;
- `vangnet.media.regions.find`: the main natural picture of a screenshot and its insets;
- `vangnet.media.regions.insets`: picture-in-picture insets inside a picture;
- `vangnet.media.regions.layout`: uniform borders (padding, letterbox bars) and the tiles of
  a grid separated by uniform gutters (a video call).

Every stage may use them: the matcher proposes regions of a query picture, triage traces
screenshots with them.
"""
