# A challenge-style image: the code in /physionet, dependencies from requirements.txt.
# Build: docker build -t ecg-crnn .
# Train: docker run --rm -v /path/to/train:/data:ro -v /path/to/model:/model ecg-crnn python train_model.py /data /model
# Label: docker run --rm -v /path/to/model:/model:ro -v /path/to/test:/test:ro -v /path/to/out:/out ecg-crnn python driver.py /model /test /out
# The organisers' own train_model.py / driver.py import train_12ECG_classifier.py / run_12ECG_classifier.py (README).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /physionet
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY team_code/ team_code/
COPY train_model.py driver.py evaluate.py train_12ECG_classifier.py run_12ECG_classifier.py ./
