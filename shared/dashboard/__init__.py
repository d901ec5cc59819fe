"""The operations view (design §7): the page a TA manager opens each morning.

- ``views``: the read models, small documents kept current in the same commit as the
  state they summarise (after Cosmic Python's ``views.py``), so a page reads a handful of
  documents instead of whole collections;
- ``pages``: what each page shows (Today, Who is out, Accounts, Actions), as data the
  templates render and ``?format=json`` returns;
- ``charts``: small server-rendered SVG charts;
- ``auth``: who may look (a verified Google ID token of the company, in the directory) and
  who may press a button (a TA manager, director or VP, with a CSRF token);
- ``app``: the HTTP handler the ``dashboard`` entry point and the local server share.

Importing this package loads none of them: ``shared.processing`` needs only ``views``.
"""
