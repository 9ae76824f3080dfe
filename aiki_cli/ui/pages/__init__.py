"""The dashboard's pages, one module each (runs, run, workflows), and the actions their
buttons post to: each builds what its template shows from the `Client`."""
