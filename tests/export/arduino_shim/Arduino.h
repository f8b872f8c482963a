/* Test-only stand-in for an Arduino core's Arduino.h (no core can be downloaded here): just what
 * the example sketch uses. Serial prints through semihosting (tests/export/fw/startup.c). */
#ifndef TINY_TEST_ARDUINO_H
#define TINY_TEST_ARDUINO_H
#include <stdint.h>
#include <stddef.h>

extern "C" void app_puts(const char *s);

class ShimSerial {
public:
    void begin(unsigned long) {}
    void print(const char *s) { app_puts(s); }
    void print(long v);
    void print(unsigned v) { print((long)v); }
    void print(int v) { print((long)v); }
    void println(const char *s) { print(s); app_puts("\n"); }
    void println(long v) { print(v); app_puts("\n"); }
    void println(unsigned v) { println((long)v); }
    void println(int v) { println((long)v); }
};
extern ShimSerial Serial;

void delay(unsigned long ms);
void setup();
void loop();
#endif
