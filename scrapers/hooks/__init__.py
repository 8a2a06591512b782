"""Per-state hooks: small Python functions for the one step a config cannot express.

A page in ``config/states/<st>.yaml`` names a hook by function name::

    pages:
      bill:
        hooks: {post: tidy_sponsors}

and ``scrapers/hooks/<st>.py`` defines it. Two steps can be replaced or adjusted:

- ``parse(doc, ctx)`` replaces the page's declarative ``fields``: it receives the parsed
  :class:`scrapers.extract.Document` and the engine's context and returns a record (bill and
  augment pages) or a list of records (list, index and sessions pages);
- ``post(data, ctx)`` receives what the fields extracted and returns it adjusted.

Keep hooks short and data-free: anything a selector, transform or action rule can say belongs in
the YAML, where volunteers can see and test it.
"""
