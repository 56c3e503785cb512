/* benchmarks/exchange_floor.c — the floor of any DLPack-based checker of f(x, y).
 *
 * call_through(f, /, *args) does the one thing such a checker cannot skip: it asks each
 * argument's producer for its DLTensor through the DLPack C exchange API
 * (dltensor_from_py_object_no_sync, the cheapest export DLPack 1.3 defines), then calls
 * f(*args). It checks nothing, so `@checked f(x, y)` less `call_through(f, x, y)` is what
 * the checks themselves cost, and `call_through(f, x, y)` is the fastest a checker reading
 * tensors through DLPack could be. The table is found and cached the way optype_dlpack's
 * exchange_api_of finds it (src_cpp/include/optype_dlpack/acquire.hpp), so that the lookup
 * costs here what it costs there.
 *
 * Built by benchmarks/exchange_floor.py with the dlpack.h the package was built against. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlpack/dlpack.h>

#include <stdint.h>

static PyObject* exchange_api_name;     /* "__dlpack_c_exchange_api__": DLPack 1.3, a capsule */
static PyObject* exchange_api_v12_name; /* "__c_dlpack_exchange_api__": DLPack 1.2, an int */

/* One cached type, keyed as optype_dlpack keys its cache: the type and its version tag (a tag
 * is never reused, so a dead type's entry cannot match a new one; 0 means "not cacheable"). */
static PyTypeObject* cached_type;
static unsigned int cached_tag;
static const DLPackExchangeAPI* cached_api;
#ifdef Py_GIL_DISABLED
static PyMutex cache_lock; /* optype_dlpack takes a lock here too when no GIL serialises callers */
#endif

static unsigned int version_tag(PyTypeObject* type) {
    return PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) ? type->tp_version_tag : 0;
}

/* The table the type publishes, or NULL (no error set) when it has none of this major version. */
static const DLPackExchangeAPI* lookup_exchange_api(PyTypeObject* type) {
    uintptr_t address = 0;
    PyObject* attr = PyObject_GetAttr((PyObject*)type, exchange_api_name);
    if (attr != NULL) {
        if (PyCapsule_IsValid(attr, "dlpack_exchange_api")) {
            address = (uintptr_t)PyCapsule_GetPointer(attr, "dlpack_exchange_api");
        }
    } else {
        PyErr_Clear();
        attr = PyObject_GetAttr((PyObject*)type, exchange_api_v12_name);
        if (attr == NULL) {
            PyErr_Clear();
        } else if (PyLong_Check(attr) && !PyBool_Check(attr)) {
            address = (uintptr_t)PyLong_AsUnsignedLongLong(attr);
            if (PyErr_Occurred()) {
                PyErr_Clear();
                address = 0;
            }
        }
    }
    Py_XDECREF(attr);
    /* An address in the first page or misaligned cannot hold a table (as in exchange_table.hpp);
     * a table of another major version has another layout. */
    if (address < 4096 || address % _Alignof(DLPackExchangeAPI) != 0) return NULL;
    const DLPackExchangeAPI* api = (const DLPackExchangeAPI*)address;
    return api->header.version.major == DLPACK_MAJOR_VERSION ? api : NULL;
}

static const DLPackExchangeAPI* exchange_api_of(PyTypeObject* type) {
    const DLPackExchangeAPI* api = NULL;
    int hit = 0;
#ifdef Py_GIL_DISABLED
    PyMutex_Lock(&cache_lock);
#endif
    unsigned int tag = version_tag(type);
    if (tag != 0 && cached_type == type && cached_tag == tag) {
        api = cached_api;
        hit = 1;
    }
#ifdef Py_GIL_DISABLED
    PyMutex_Unlock(&cache_lock);
#endif
    if (hit) return api;
    api = lookup_exchange_api(type); /* runs Python (attribute lookups): never under the lock */
#ifdef Py_GIL_DISABLED
    PyMutex_Lock(&cache_lock);
#endif
    tag = version_tag(type);
    if (tag != 0) {
        cached_type = type;
        cached_tag = tag;
        cached_api = api;
    }
#ifdef Py_GIL_DISABLED
    PyMutex_Unlock(&cache_lock);
#endif
    return api;
}

/* The DLTensor of `arg`, into `out`; -1 with an exception set when it cannot be had. */
static int export_dltensor(PyObject* arg, DLTensor* out) {
    const DLPackExchangeAPI* api = exchange_api_of(Py_TYPE(arg));
    if (api == NULL || api->dltensor_from_py_object_no_sync == NULL) {
        PyErr_Format(PyExc_TypeError, "%.200s offers no DLTensor through the DLPack C exchange API",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    if (api->dltensor_from_py_object_no_sync(arg, out) != 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "dltensor_from_py_object_no_sync failed");
        return -1;
    }
    return 0;
}

static PyObject* call_through(PyObject* module, PyObject* const* args, Py_ssize_t nargs) {
    (void)module;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "call_through(f, /, *args) needs f");
        return NULL;
    }
    for (Py_ssize_t i = 1; i < nargs; ++i) {
        DLTensor tensor; /* borrowed: valid while the argument lives; read by nothing here */
        if (export_dltensor(args[i], &tensor) != 0) return NULL;
    }
    return PyObject_Vectorcall(args[0], args + 1, (size_t)(nargs - 1), NULL);
}

static PyMethodDef methods[] = {
    {"call_through", (PyCFunction)(void (*)(void))call_through, METH_FASTCALL,
     "call_through(f, /, *args): each arg's DLTensor from its DLPack C exchange API, then f(*args)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_exchange_floor",  // one instance per process: the cache above is process-wide
    .m_doc = "The floor of a DLPack-based checker (benchmarks).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__exchange_floor(void) {
    exchange_api_name = PyUnicode_InternFromString("__dlpack_c_exchange_api__");
    exchange_api_v12_name = PyUnicode_InternFromString("__c_dlpack_exchange_api__");
    if (exchange_api_name == NULL || exchange_api_v12_name == NULL) return NULL;
    PyObject* module = PyModule_Create(&module_def);
#ifdef Py_GIL_DISABLED
    if (module != NULL) PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);
#endif
    return module;
}
