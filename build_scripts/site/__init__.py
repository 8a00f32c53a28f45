"""Deploy time: the site's Markdown extension, the widgets' HTML and the Zensical wrapper.

The site is built from committed files (``docs/generated/``), by MkDocs or Zensical, in the Pages
workflow with the site's dependencies only: nothing here imports JAX, a model or the pipeline
(a test builds both sites with JAX made unimportable).
"""
