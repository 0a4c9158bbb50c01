{
  "targets": [
    {
      "target_name": "shared_page",
      "sources": ["shared-page.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
