/* Little-endian fixed-width fields, as the model file and its checkpoint
 * sections store them, whatever the host's byte order. */
#ifndef EG_LE_H
#define EG_LE_H

#include <stdint.h>
#include <string.h>

static inline void le_set32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_set64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t le_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le_get64(const uint8_t *p) { return le_get32(p) | (uint64_t)le_get32(p + 4) << 32; }

/* A float's bits and back (NaN payloads and signed zeros kept). */
static inline uint32_t le_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float le_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

#endif
