"""Sphinx extension: drop repeated inline scripts from the pages.

Jupyter Book 1.x with Sphinx 7.4 adds sphinx-thebe's inline configuration script (``const THEBE_JS_URL =
...``) twice to every page; the second copy re-declares a ``const`` and the browser reports a SyntaxError
on every page. Removing exact repeats leaves every script once, in its first position.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # the two copies differ only in an empty filename (None vs ''), so compare by content
        name = getattr(script, "filename", script) or ""
        key = (str(name), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
