/* Firmware entry: bring the board up, then answer protocol requests forever. */
#include "tiny/port.h"
#include "tiny/protocol.h"

int main(void) {
    tiny_port_init();
    tiny_proto_serve();
    return 0;
}
