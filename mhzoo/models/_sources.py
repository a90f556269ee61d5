"""Source references cited by the model tables (repository @ commit, path)."""

TFM = ("tensorflow/models @ 001ec92b3574896d6e9f65b8a5b46afc62e5f9e6 "
       "official/vision/modeling/backbones/mobilenet.py")
SLIM_V1 = ("tensorflow/models @ 0cf9932fde23c1714483309fcabd66a501a16399 "
           "research/slim/nets/mobilenet_v1.py")
SLIM_V3 = ("tensorflow/models @ 03cdc5fecfb6c7d30845e6990a6d346b3acbfeb8 "
           "research/slim/nets/mobilenet/mobilenet_v3.py")
KERAS_V3 = ("keras-team/keras @ 08995a4075f856a327401c15a820964af54c2caa "
            "keras/src/applications/mobilenet_v3.py")
TUNAS = ("google-research/google-research @ 0c1bbe5fc971a1de1a427debc814e66ab4f1e7fa "
         "tunas/mobile_search_space_v3.py")
PROXYLESS = "mit-han-lab/proxylessnas proxyless_nas/model_zoo.py (proxyless_mobile.config)"
OSMR = ("osmr/imgclsmob @ 08bdd08360ab7cdc706cf8fac72d11423df59ca7 "
        "pytorch/pytorchcv/models/proxylessnas.py")
PAPER = "Chu et al. 2021, Discovering Multi-Hardware Mobile Models via Architecture Search"
