/* fileapi.h - libmemapi: the minimal file API needed to back file mappings
 * (CreateFile, ReadFile/WriteFile, file pointer and size, temp path). */
#ifndef MEMAPI_FILEAPI_H
#define MEMAPI_FILEAPI_H

#include "winnt.h"
#include "handleapi.h"  /* INVALID_HANDLE_VALUE, returned by CreateFile */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- creation dispositions ---------------------------------------------- */
#define CREATE_NEW                  1
#define CREATE_ALWAYS               2
#define OPEN_EXISTING               3
#define OPEN_ALWAYS                 4
#define TRUNCATE_EXISTING           5

/* ---- CreateFile flags (SDK: winbase.h) ---------------------------------- */
#define FILE_FLAG_WRITE_THROUGH     0x80000000u
#define FILE_FLAG_OVERLAPPED        0x40000000
#define FILE_FLAG_NO_BUFFERING      0x20000000
#define FILE_FLAG_RANDOM_ACCESS     0x10000000
#define FILE_FLAG_SEQUENTIAL_SCAN   0x08000000
#define FILE_FLAG_DELETE_ON_CLOSE   0x04000000
#define FILE_FLAG_BACKUP_SEMANTICS  0x02000000
#define FILE_FLAG_POSIX_SEMANTICS   0x01000000

/* ---- SetFilePointer move methods (SDK: winbase.h) ----------------------- */
#define FILE_BEGIN                  0
#define FILE_CURRENT                1
#define FILE_END                    2

/* ---- failure sentinels -------------------------------------------------- */
#define INVALID_FILE_SIZE           ((DWORD)0xFFFFFFFF)
#define INVALID_SET_FILE_POINTER    ((DWORD)-1)
#define INVALID_FILE_ATTRIBUTES     ((DWORD)-1)

/* ---- open / create / delete --------------------------------------------- */
MEMAPI_EXPORT HANDLE WINAPI CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess,
                                        DWORD dwShareMode,
                                        LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                                        DWORD dwCreationDisposition,
                                        DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
MEMAPI_EXPORT HANDLE WINAPI CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess,
                                        DWORD dwShareMode,
                                        LPSECURITY_ATTRIBUTES lpSecurityAttributes,
                                        DWORD dwCreationDisposition,
                                        DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
MEMAPI_EXPORT BOOL   WINAPI DeleteFileA(LPCSTR lpFileName);
MEMAPI_EXPORT BOOL   WINAPI DeleteFileW(LPCWSTR lpFileName);

/* ---- I/O ---------------------------------------------------------------- */
MEMAPI_EXPORT BOOL   WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer,
                                     DWORD nNumberOfBytesToRead,
                                     LPDWORD lpNumberOfBytesRead,
                                     LPOVERLAPPED lpOverlapped);
MEMAPI_EXPORT BOOL   WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer,
                                      DWORD nNumberOfBytesToWrite,
                                      LPDWORD lpNumberOfBytesWritten,
                                      LPOVERLAPPED lpOverlapped);
MEMAPI_EXPORT BOOL   WINAPI FlushFileBuffers(HANDLE hFile);

/* ---- position and size -------------------------------------------------- */
MEMAPI_EXPORT DWORD  WINAPI SetFilePointer(HANDLE hFile, LONG lDistanceToMove,
                                           PLONG lpDistanceToMoveHigh, DWORD dwMoveMethod);
MEMAPI_EXPORT BOOL   WINAPI SetFilePointerEx(HANDLE hFile, LARGE_INTEGER liDistanceToMove,
                                             PLARGE_INTEGER lpNewFilePointer,
                                             DWORD dwMoveMethod);
MEMAPI_EXPORT BOOL   WINAPI SetEndOfFile(HANDLE hFile);
MEMAPI_EXPORT DWORD  WINAPI GetFileSize(HANDLE hFile, LPDWORD lpFileSizeHigh);
MEMAPI_EXPORT BOOL   WINAPI GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize);

/* ---- temporary directory ------------------------------------------------ */
MEMAPI_EXPORT DWORD  WINAPI GetTempPathA(DWORD nBufferLength, LPSTR lpBuffer);
MEMAPI_EXPORT DWORD  WINAPI GetTempPathW(DWORD nBufferLength, LPWSTR lpBuffer);

/* ---- generic-text names ------------------------------------------------- */
#ifdef UNICODE
#define CreateFile      CreateFileW
#define DeleteFile      DeleteFileW
#define GetTempPath     GetTempPathW
#else
#define CreateFile      CreateFileA
#define DeleteFile      DeleteFileA
#define GetTempPath     GetTempPathA
#endif

#ifdef __cplusplus
}
#endif

#endif /* MEMAPI_FILEAPI_H */
