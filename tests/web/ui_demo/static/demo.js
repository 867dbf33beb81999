document.documentElement.dataset.demo = "loaded";
