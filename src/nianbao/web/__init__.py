"""The web portal (`nianbao serve`): units upload their returns through personal links and
see the verdict at once; the office watches the collection on a dashboard. One code path:
uploads go through the same intake as `nianbao collect`."""
