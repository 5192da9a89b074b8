"""What the real-world recipe's recordings are: their source groups and their licences.

The negatives fall into eight source groups that leaving sources out holds out one at a
time; a ninth, NON_COMMERCIAL, gathers the recordings whose licence forbids commercial use,
so that the same protocol measures what training without them costs.
"""
from __future__ import annotations

# The negative source groups, held out one at a time by leave-one-source-out evaluation.
SOURCE_GROUPS = ("human_non_speech", "animals", "domestic", "urban", "music", "adult_speech",
                 "children_speech", "background_noise")
# ESC-50's own five major categories, minus ESC-10 (absent from the data).
ESC50_SOURCE_GROUP = {
    **dict.fromkeys(["pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow"], "animals"),
    **dict.fromkeys(["crickets", "chirping_birds", "water_drops", "wind", "pouring_water",
                     "toilet_flush", "thunderstorm"], "background_noise"),
    **dict.fromkeys(["clapping", "breathing", "coughing", "footsteps", "laughing",
                     "brushing_teeth", "snoring", "drinking_sipping"], "human_non_speech"),
    **dict.fromkeys(["door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks",
                     "can_opening", "washing_machine", "vacuum_cleaner", "clock_alarm",
                     "glass_breaking"], "domestic"),
    **dict.fromkeys(["car_horn", "engine", "train", "church_bells", "airplane", "fireworks",
                     "hand_saw", "siren"], "urban"),
}
# real_audio files outside Donate-a-cry and FSDD, by file stem (prefix match).
REAL_AUDIO_SOURCE_GROUP = {
    "arctic_": "adult_speech", "cmu_arctic_": "adult_speech", "german_speech": "adult_speech",
    "198-209": "adult_speech", "3436-172162": "adult_speech", "5703-47212": "adult_speech",
    "doing_the_dishes": "background_noise", "exercise_bike": "background_noise",
    "singing": "music", "147793__": "music", "442789__": "music", "Hungarian_Dance": "music",
    "Karissa_Hobbs": "music", "Kevin_MacLeod": "music", "admiralbob77": "music",
    "sorohanro": "music", "456440__": "animals", "glacier-bay-humpback": "animals",
    "pibble": "animals",
}
# Recordings whose licence forbids commercial use, or does not say that it allows it, by path
# prefix (shared/data READMEs): ESC-50 (CC BY-NC 3.0), four librosa examples (CC BY-NC) and two
# household recordings the data's README leaves at "research/test use". NON_COMMERCIAL names
# them as one group that leaving sources out can hold out (the cost of training without them).
NON_COMMERCIAL = "non_commercial"
NON_COMMERCIAL_PREFIXES = (
    "real_world/esc50_other/", "real_audio/librosa_misc/147793__",
    "real_audio/librosa_misc/442789__", "real_audio/librosa_misc/admiralbob77",
    "real_audio/librosa_misc/pibble", "real_audio/household_speech/singing",
    "real_audio/household_speech/german_speech")


def by_licence(sources: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
  """sources with every non-commercial recording in the group NON_COMMERCIAL (the cry mixtures'
  backgrounds all allow commercial use, so every cry keeps its place)."""
  return {path: dict(source, source_group=NON_COMMERCIAL)
          if path.startswith(NON_COMMERCIAL_PREFIXES) else source
          for path, source in sources.items()}
