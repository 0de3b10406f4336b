/* enclaveapi.h - libmemapi: enclave creation, loading, initialization and
 * deletion (ENCLAVE_* types and structures live in winnt.h). */
#ifndef MEMAPI_ENCLAVEAPI_H
#define MEMAPI_ENCLAVEAPI_H

#include "winnt.h"

#ifdef __cplusplus
extern "C" {
#endif

MEMAPI_EXPORT BOOL   WINAPI IsEnclaveTypeSupported(DWORD flEnclaveType);
MEMAPI_EXPORT LPVOID WINAPI CreateEnclave(HANDLE hProcess, LPVOID lpAddress, SIZE_T dwSize,
                                          SIZE_T dwInitialCommitment, DWORD flEnclaveType,
                                          LPCVOID lpEnclaveInformation, DWORD dwInfoLength,
                                          LPDWORD lpEnclaveError);
MEMAPI_EXPORT BOOL   WINAPI LoadEnclaveData(HANDLE hProcess, LPVOID lpAddress,
                                            LPCVOID lpBuffer, SIZE_T nSize, DWORD flProtect,
                                            LPCVOID lpPageInformation, DWORD dwInfoLength,
                                            PSIZE_T lpNumberOfBytesWritten,
                                            LPDWORD lpEnclaveError);
MEMAPI_EXPORT BOOL   WINAPI InitializeEnclave(HANDLE hProcess, LPVOID lpAddress,
                                              LPCVOID lpEnclaveInformation, DWORD dwInfoLength,
                                              LPDWORD lpEnclaveError);
MEMAPI_EXPORT BOOL   WINAPI DeleteEnclave(LPVOID lpAddress);

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_ENCLAVEAPI_H */
