"""Concepts: CAV bank, post-hoc concept bottleneck, Integrated Gradients (captum), concept poisoning."""

from unlearn_core.concepts.attribution import (
    ConceptAttribution,
    DonorSuggestion,
    PixelAttribution,
    concept_attributions,
    pixel_attributions,
)
from unlearn_core.concepts.bank import (
    ConceptBank,
    bank_from_dataset,
    bank_from_folders,
    load_image_folder,
    random_bank,
    train_probe,
)
from unlearn_core.concepts.bottleneck import BottleneckReport, ConceptBottleneck, bottleneck_report, fit_bottleneck
from unlearn_core.concepts.poisoning import (
    ConceptInference,
    PoisonPlan,
    forgetting_rate,
    forgetting_rate_for_models,
    infer_concepts,
    paste_concept,
    plan_poisoning,
    poison_labels,
    shared_concept_accuracy,
)

__all__ = [
    "BottleneckReport",
    "ConceptAttribution",
    "ConceptBank",
    "ConceptBottleneck",
    "ConceptInference",
    "DonorSuggestion",
    "PixelAttribution",
    "PoisonPlan",
    "bank_from_dataset",
    "bank_from_folders",
    "bottleneck_report",
    "concept_attributions",
    "fit_bottleneck",
    "forgetting_rate",
    "forgetting_rate_for_models",
    "infer_concepts",
    "load_image_folder",
    "paste_concept",
    "pixel_attributions",
    "plan_poisoning",
    "poison_labels",
    "random_bank",
    "shared_concept_accuracy",
    "train_probe",
]
