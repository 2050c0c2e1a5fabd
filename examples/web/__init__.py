"""A web page that shows a streamified program live over Server-Sent Events."""
