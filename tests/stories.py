"""Short stories written for the tests: one prisoner swap with talks, and look-alikes."""

SWAP = {
    "title": "Russia and US complete prisoner exchange brokered by UAE",
    "link": "https://news.example.org/world/2025/russia-us-prisoner-exchange?utm_source=rss&utm_medium=feed",
    "description": (
        "Russia and the United States carried out a prisoner exchange in Abu Dhabi on Thursday, "
        "the Kremlin said. An American teacher held in Moscow was released in return for a "
        "Russian national jailed in the US. Foreign Minister Sergey Lavrov said the swap followed "
        "months of talks mediated by the United Arab Emirates, and the State Department thanked "
        "the Emirati envoy for his diplomacy."
    ),
    "pubDate": "Thu, 22 May 2025 10:00:00 GMT",
}
SPORTS = {
    "title": "Lakers trade veteran guard to Nets in exchange for two draft picks",
    "link": "https://sports.example.org/nba/lakers-nets-trade",
    "description": (
        "The Los Angeles Lakers swapped their veteran guard for two second-round draft picks on "
        "Wednesday, the team's president said, ahead of the NBA trade deadline."
    ),
    "pubDate": "Wed, 21 May 2025 18:00:00 GMT",
}
CURRENCY = {
    "title": "Dollar exchange rate climbs as central bank extends currency swap line",
    "link": "https://markets.example.org/fx/dollar-rate",
    "description": (
        "The dollar rose against the euro on foreign exchange markets after the central bank "
        "extended its currency swap arrangement with partner banks, traders said."
    ),
    "pubDate": "Wed, 21 May 2025 09:00:00 GMT",
}
WEATHER = {
    "title": "Storm brings heavy rain and strong winds to the coast",
    "link": "https://weather.example.org/storm",
    "description": "Forecasters warned of flooding as a storm brought heavy rain and gusts of 90 km/h.",
    "pubDate": "Wed, 21 May 2025 07:00:00 GMT",
}
NEGATIVES = [SPORTS, CURRENCY, WEATHER]
