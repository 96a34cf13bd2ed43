"""The default muscle vocabulary every organisation starts with, and where each sits on the chart.

Plain data: the shared Muscle table is kept equal to ``DEFAULT_MUSCLES`` (sessions.vocabulary),
grouped by ``REGIONS``. Each muscle names the body-chart view it is needled on ("front" or
"back") and one point for the patient's right side in that view's coordinates; the chart
draws the left side mirrored at ``(200 - x, y)``. Both views share the ``VIEWBOX`` and an
outline silhouette facing the viewer, midline at x = 100: on the front view the patient's
right is on the viewer's left (x < 100), on the back view on the viewer's right (x > 100).

``pneumothorax_risk`` flags muscles whose needling can reach the pleura: the thorax, the
upper back and the neck and shoulder girdle over the lung apex.
"""

from typing import NamedTuple


class DefaultMuscle(NamedTuple):
    code: str  # slug, e.g. "upper-trapezius"; lowercase a-z, digits and hyphens
    name: str  # "Upper trapezius" (sentence case, clinic wording)
    region: str  # one of REGIONS' keys
    view: str  # "front" or "back": which body-chart view shows it
    x: int  # point for the PATIENT'S RIGHT side, in that view's coordinates
    y: int
    pneumothorax_risk: bool  # needling over the thorax, upper back or neck/shoulder girdle


REGIONS = {  # key -> label, in head-to-toe order
    "head_neck": "Head and neck",
    "shoulder": "Shoulder",
    "upper_back": "Upper back and thorax",
    "chest": "Chest",
    "arm": "Upper arm",
    "forearm_hand": "Forearm and hand",
    "lower_back": "Lower back",
    "abdomen": "Abdomen",
    "hip_buttock": "Hip and buttock",
    "thigh": "Thigh",
    "leg_foot": "Lower leg and foot",
}

VIEWBOX = (0, 0, 200, 460)  # both views: width 200, height 460
"""min-x, min-y, width, height of the SVG viewBox both body-chart views are drawn in."""

_SILHOUETTE = (
    "M100,6 C88,6 78,16 78,32 C78,44 81,53 87,58 C87,62 87,66 86,71 C84,77 72,79 61,83 "
    "C50,86 44,96 43,110 C42,130 39,160 37,185 C34,200 31,240 30,262 C27,275 22,290 25,302 "
    "C28,310 36,308 38,302 C40,292 42,278 42,264 C45,240 53,212 53,188 "
    "C54,165 59,140 62,128 C63,124 66,124 66,130 C66,150 70,180 72,205 "
    "C73,222 64,236 63,252 C61,285 64,320 70,350 C71,356 65,366 66,385 "
    "C67,402 77,412 78,424 C76,436 70,444 71,451 C73,457 95,457 97,451 "
    "C97,444 93,434 92,424 C91,405 97,390 96,372 C95,362 92,356 93,348 "
    "C95,325 100,300 100,274 C100,300 105,325 107,348 C108,356 105,362 104,372 "
    "C103,390 109,405 108,424 C107,434 103,444 103,451 C105,457 127,457 129,451 "
    "C130,444 124,436 122,424 C123,412 133,402 134,385 C135,366 129,356 130,350 "
    "C136,320 139,285 137,252 C136,236 127,222 128,205 C130,180 134,150 134,130 "
    "C134,124 137,124 138,128 C141,140 146,165 147,188 C147,212 155,240 158,264 "
    "C158,278 160,292 162,302 C164,308 172,310 175,302 C178,290 173,275 170,262 "
    "C169,240 166,200 163,185 C161,160 158,130 157,110 C156,96 150,86 139,83 "
    "C128,79 116,77 114,71 C113,66 113,62 113,58 C119,53 122,44 122,32 C122,16 112,6 100,6 Z"
)
"""A symmetric upright figure facing the viewer, arms slightly away from the body."""

BODY_OUTLINES = {"front": _SILHOUETTE, "back": _SILHOUETTE}
"""One closed SVG path (the ``d`` attribute) per view; front and back share the silhouette."""

_M = DefaultMuscle

DEFAULT_MUSCLES: list[DefaultMuscle] = [
    # Head and neck
    _M("upper-trapezius", "Upper trapezius", "head_neck", "back", 125, 84, True),
    _M("levator-scapulae", "Levator scapulae", "head_neck", "back", 114, 79, True),
    _M("splenius-capitis", "Splenius capitis", "head_neck", "back", 111, 55, False),
    _M("semispinalis-capitis", "Semispinalis capitis", "head_neck", "back", 104, 61, False),
    _M("suboccipitals", "Suboccipitals", "head_neck", "back", 105, 48, False),
    _M("cervical-multifidus", "Cervical multifidus", "head_neck", "back", 106, 70, False),
    _M("sternocleidomastoid", "Sternocleidomastoid", "head_neck", "front", 93, 66, False),
    _M("scalenes", "Scalenes", "head_neck", "front", 86, 78, True),
    _M("masseter", "Masseter", "head_neck", "front", 87, 48, False),
    _M("temporalis", "Temporalis", "head_neck", "front", 84, 26, False),
    _M("lateral-pterygoid", "Lateral pterygoid", "head_neck", "front", 83, 39, False),
    # Shoulder
    _M("supraspinatus", "Supraspinatus", "shoulder", "back", 126, 94, True),
    _M("infraspinatus", "Infraspinatus", "shoulder", "back", 125, 116, True),
    _M("teres-minor", "Teres minor", "shoulder", "back", 134, 118, True),
    _M("teres-major", "Teres major", "shoulder", "back", 129, 132, True),
    _M("deltoid-posterior", "Posterior deltoid", "shoulder", "back", 146, 106, False),
    _M("deltoid-anterior", "Anterior deltoid", "shoulder", "front", 57, 102, False),
    _M("deltoid-middle", "Middle deltoid", "shoulder", "front", 48, 108, False),
    _M("subscapularis", "Subscapularis", "shoulder", "front", 65, 120, True),
    # Upper back and thorax
    _M("rhomboids", "Rhomboids", "upper_back", "back", 110, 110, True),
    _M("middle-trapezius", "Middle trapezius", "upper_back", "back", 117, 102, True),
    _M("lower-trapezius", "Lower trapezius", "upper_back", "back", 114, 138, True),
    _M(
        "serratus-posterior-superior",
        "Serratus posterior superior",
        "upper_back",
        "back",
        108,
        92,
        True,
    ),
    _M("thoracic-multifidus", "Thoracic multifidus", "upper_back", "back", 105, 124, True),
    _M("thoracic-erector-spinae", "Thoracic erector spinae", "upper_back", "back", 109, 156, True),
    _M("latissimus-dorsi", "Latissimus dorsi", "upper_back", "back", 128, 156, True),
    _M("serratus-anterior", "Serratus anterior", "upper_back", "front", 71, 150, True),
    _M("intercostals", "Intercostals", "upper_back", "front", 82, 146, True),
    # Chest
    _M(
        "pectoralis-major-clavicular",
        "Pectoralis major (clavicular)",
        "chest",
        "front",
        80,
        96,
        True,
    ),
    _M(
        "pectoralis-major-sternocostal",
        "Pectoralis major (sternocostal)",
        "chest",
        "front",
        86,
        118,
        True,
    ),
    _M("pectoralis-minor", "Pectoralis minor", "chest", "front", 74, 110, True),
    _M("sternalis", "Sternalis", "chest", "front", 96, 110, True),
    # Upper arm
    _M("biceps-brachii", "Biceps brachii", "arm", "front", 49, 148, False),
    _M("brachialis", "Brachialis", "arm", "front", 44, 174, False),
    _M("coracobrachialis", "Coracobrachialis", "arm", "front", 56, 130, False),
    _M("triceps-long-head", "Triceps (long head)", "arm", "back", 146, 138, False),
    _M("triceps-lateral-head", "Triceps (lateral head)", "arm", "back", 153, 154, False),
    # Forearm and hand
    _M("brachioradialis", "Brachioradialis", "forearm_hand", "front", 39, 200, False),
    _M("pronator-teres", "Pronator teres", "forearm_hand", "front", 48, 197, False),
    _M("wrist-flexors", "Wrist flexors", "forearm_hand", "front", 43, 218, False),
    _M(
        "flexor-digitorum-superficialis",
        "Flexor digitorum superficialis",
        "forearm_hand",
        "front",
        39,
        238,
        False,
    ),
    _M("thenar-muscles", "Thenar muscles", "forearm_hand", "front", 31, 277, False),
    _M("anconeus", "Anconeus", "forearm_hand", "back", 153, 189, False),
    _M("supinator", "Supinator", "forearm_hand", "back", 158, 211, False),
    _M("wrist-extensors", "Wrist extensors", "forearm_hand", "back", 161, 198, False),
    _M("extensor-digitorum", "Extensor digitorum", "forearm_hand", "back", 154, 226, False),
    _M(
        "first-dorsal-interosseous",
        "First dorsal interosseous",
        "forearm_hand",
        "back",
        168,
        280,
        False,
    ),
    # Lower back
    _M("lumbar-erector-spinae", "Lumbar erector spinae", "lower_back", "back", 111, 206, False),
    _M("iliocostalis-lumborum", "Iliocostalis lumborum", "lower_back", "back", 119, 196, False),
    _M("lumbar-multifidus", "Lumbar multifidus", "lower_back", "back", 105, 222, False),
    _M("quadratus-lumborum", "Quadratus lumborum", "lower_back", "back", 123, 216, False),
    # Abdomen
    _M("rectus-abdominis", "Rectus abdominis", "abdomen", "front", 92, 188, False),
    _M("external-oblique", "External oblique", "abdomen", "front", 77, 186, False),
    _M("internal-oblique", "Internal oblique", "abdomen", "front", 82, 214, False),
    _M("iliopsoas", "Iliopsoas", "abdomen", "front", 80, 242, False),
    # Hip and buttock
    _M("gluteus-maximus", "Gluteus maximus", "hip_buttock", "back", 119, 266, False),
    _M("gluteus-medius", "Gluteus medius", "hip_buttock", "back", 125, 238, False),
    _M("gluteus-minimus", "Gluteus minimus", "hip_buttock", "back", 131, 250, False),
    _M("piriformis", "Piriformis", "hip_buttock", "back", 116, 250, False),
    _M("tensor-fasciae-latae", "Tensor fasciae latae", "hip_buttock", "front", 70, 254, False),
    # Thigh
    _M("rectus-femoris", "Rectus femoris", "thigh", "front", 78, 290, False),
    _M("vastus-lateralis", "Vastus lateralis", "thigh", "front", 68, 312, False),
    _M("vastus-medialis", "Vastus medialis", "thigh", "front", 88, 336, False),
    _M("sartorius", "Sartorius", "thigh", "front", 86, 300, False),
    _M("pectineus", "Pectineus", "thigh", "front", 91, 264, False),
    _M("adductor-longus", "Adductor longus", "thigh", "front", 94, 282, False),
    _M("gracilis", "Gracilis", "thigh", "front", 94, 304, False),
    _M("adductor-magnus", "Adductor magnus", "thigh", "back", 106, 290, False),
    _M("biceps-femoris", "Biceps femoris", "thigh", "back", 126, 310, False),
    _M("semitendinosus", "Semitendinosus", "thigh", "back", 113, 306, False),
    _M("semimembranosus", "Semimembranosus", "thigh", "back", 108, 326, False),
    # Lower leg and foot
    _M("popliteus", "Popliteus", "leg_foot", "back", 114, 352, False),
    _M(
        "gastrocnemius-medial",
        "Gastrocnemius (medial head)",
        "leg_foot",
        "back",
        111,
        374,
        False,
    ),
    _M(
        "gastrocnemius-lateral",
        "Gastrocnemius (lateral head)",
        "leg_foot",
        "back",
        123,
        370,
        False,
    ),
    _M("soleus", "Soleus", "leg_foot", "back", 118, 396, False),
    _M("tibialis-posterior", "Tibialis posterior", "leg_foot", "back", 112, 410, False),
    _M("quadratus-plantae", "Quadratus plantae", "leg_foot", "back", 115, 444, False),
    _M("abductor-hallucis", "Abductor hallucis", "leg_foot", "back", 108, 438, False),
    _M("tibialis-anterior", "Tibialis anterior", "leg_foot", "front", 82, 378, False),
    _M("fibularis-longus", "Fibularis longus", "leg_foot", "front", 71, 372, False),
    _M(
        "extensor-digitorum-longus",
        "Extensor digitorum longus",
        "leg_foot",
        "front",
        76,
        390,
        False,
    ),
    _M(
        "extensor-hallucis-longus",
        "Extensor hallucis longus",
        "leg_foot",
        "front",
        84,
        402,
        False,
    ),
    _M(
        "extensor-digitorum-brevis",
        "Extensor digitorum brevis",
        "leg_foot",
        "front",
        82,
        440,
        False,
    ),
]
"""About eighty muscles commonly dry-needled, grouped by region in head-to-toe order."""
