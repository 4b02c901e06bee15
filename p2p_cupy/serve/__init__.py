"""`p2p serve`: an interactive pix2pix page in the browser, on the user's own machine.

    model.py     the model being served: G (and D when the checkpoint has one), one
                 translation at a time, the patch map and activation statistics
    palette.py   what the drawing tools offer: the classes of a label-map data set
    server.py    the local HTTP server (standard library only) and its JSON API
    devtools.py  a headless Chromium driven over the DevTools protocol (the browser test
                 and the README's screenshot)
    static/      the page itself: plain HTML, CSS and JavaScript, no CDN, no build step
"""
