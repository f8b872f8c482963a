/* Test-only: the part of an Arduino core the sketch needs - Serial, delay, and a main that runs
 * setup() and loop() once (a real core loops forever). */
#include "Arduino.h"

ShimSerial Serial;

void ShimSerial::print(long v) {
    char d[24];
    int i = 23;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    d[i] = 0;
    do { d[--i] = (char)('0' + u % 10u); u /= 10u; } while (u);
    if (v < 0) d[--i] = '-';
    app_puts(d + i);
}

void delay(unsigned long) {}

extern "C" int main(void) {
    setup();
    loop();
    return 0;
}
