"""PoisonLens training engine: open_clip models trained on a training set, exported as a model
package (ARCHITECTURE.md §2). Knows only files: a training set in, a model package out, progress
as JSON lines on stdout. Library modules (model, data, loss, metrics, export) never parse flags;
`params` and `main` compose them."""

__version__ = "0.1.0"
