// Runs a model exported with `tiny export MODEL --board B -o <sketchbook>/libraries/tiny_model`
// once per second on an input at the zero point (0.0; put your sensor data there) and prints
// every output as its int8 value, then the index of the largest.
#include <tiny_model.h>

static int8_t input[TINY_MODEL_INPUT_BYTES];
static int8_t output[TINY_MODEL_OUTPUT_BYTES];

void setup() {
  Serial.begin(115200);
}

void loop() {
  for (unsigned i = 0; i < TINY_MODEL_INPUT_BYTES; i++) input[i] = TINY_MODEL_INPUT_ZERO_POINT;
  int rc = tiny_model_invoke(input, output);
  if (rc != 0) {
    Serial.print("tiny_model_invoke failed: ");
    Serial.println(rc);
    return;
  }
  unsigned best = 0;
  for (unsigned i = 0; i < TINY_MODEL_OUTPUT_BYTES; i++) {
    Serial.println((int)output[i]);
    if (output[i] > output[best]) best = i;
  }
  Serial.print("class ");
  Serial.println(best);
  delay(1000);
}
