from shapely.geometry import box

from isegui.core.compare import compare, images_by_errors
from tests.core.helpers import add_labeled_image


def test_right_wrong_class_and_missed():
    labels = [(1, box(0, 0, 10, 10)), (2, box(20, 0, 30, 10)), (1, box(40, 0, 50, 10))]
    predictions = [(1, box(0, 0, 10, 11), 0.9),  # right
                   (1, box(20, 0, 30, 10), 0.8),  # the wrong class: a false positive
                   (1, box(60, 0, 70, 10), 0.2)]  # below the threshold: takes no part
    c = compare(labels, predictions, threshold=0.5)
    assert c.true_positives == {0: 0} and c.wrong_class == {1: 1}
    assert c.false_positives == [1] and sorted(c.false_negatives) == [1, 2]


def test_images_are_listed_worst_first(project):
    clean = add_labeled_image(project, "clean.png", shapes=[("pill", box(10, 10, 30, 20), False)])
    messy = add_labeled_image(project, "messy.png",
                              shapes=[("pill", box(10, 10, 30, 20), False),
                                      ("washer", box(50, 50, 70, 70), False)])
    pill = next(c.id for c in project.store.classes() if c.name == "pill")
    run = project.store.add_run("r", {})
    project.store.add_predictions(clean.id, run.id, [(pill, box(10, 10, 30, 20), 0.9)])
    project.store.add_predictions(messy.id, run.id, [(pill, box(80, 5, 100, 15), 0.9),
                                                     (pill, box(10, 10, 30, 20), 0.3)])
    rows = images_by_errors(project.store, run.id, threshold=0.5)
    assert [(r.image_id, r.wrong, r.missed) for r in rows] == [(messy.id, 1, 2), (clean.id, 0, 0)]
    lowered = images_by_errors(project.store, run.id, threshold=0.2)
    assert [(r.wrong, r.missed) for r in lowered] == [(1, 1), (0, 0)]
