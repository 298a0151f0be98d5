"""Stream processors: normalize, route, match, deadlines, screen, aggregate, stats."""
