"""Attribution methods, one per module, sharing the contract of :class:`Explainer`."""

from keras_viz.explainers.base import Explainer, Explanation
from keras_viz.explainers.cam import CAM
from keras_viz.explainers.deconvnet import Deconvnet
from keras_viz.explainers.grad_cam import GradCAM
from keras_viz.explainers.grad_cam_plus_plus import GradCAMPlusPlus
from keras_viz.explainers.gradient_input import GradientInput
from keras_viz.explainers.guided_backprop import GuidedBackprop
from keras_viz.explainers.group import ExplainerGroup
from keras_viz.explainers.guided_grad_cam import GuidedGradCAM
from keras_viz.explainers.integrated_gradients import IntegratedGradients
from keras_viz.explainers.occlusion import Occlusion
from keras_viz.explainers.saliency import Saliency
from keras_viz.explainers.smoothgrad import SmoothGrad

__all__ = [
    "CAM",
    "Deconvnet",
    "Explainer",
    "ExplainerGroup",
    "Explanation",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "IntegratedGradients",
    "Occlusion",
    "Saliency",
    "SmoothGrad",
]
