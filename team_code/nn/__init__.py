"""The networks and crnn's beat-synchronous views.

    networks  the crnn and paper networks; crnn's measurement read and its fit
    beats     crnn's beat-synchronous views: QRS location, typical and premature beats, RR
"""
